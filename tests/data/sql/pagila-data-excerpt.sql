--
-- PostgreSQL database dump
--

SET client_encoding = 'UTF8';
SET standard_conforming_strings = off;
SET check_function_bodies = false;
SET client_min_messages = warning;
SET escape_string_warning = off;

SET search_path = public, pg_catalog;

--
-- Name: actor_actor_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('actor_actor_id_seq', 200, true);


--
-- Name: store_store_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('store_store_id_seq', 2, true);


--
-- Data for Name: actor; Type: TABLE DATA; Schema: public; Owner: postgres
--

ALTER TABLE actor DISABLE TRIGGER ALL;

COPY actor (actor_id, first_name, last_name, last_update) FROM stdin;
1	PENELOPE	GUINESS	2014-02-15 09:34:33
2	NICK	WAHLBERG	2014-02-15 09:34:33
3	ED	CHASE	2014-02-15 09:34:33
4	JENNIFER	DAVIS	2014-02-15 09:34:33
5	JOHNNY	LOLLOBRIGIDA	2014-02-15 09:34:33
48	FRANCES	DAY-LEWIS	2014-02-15 09:34:33
199	JULIA	FAWCETT	2014-02-15 09:34:33
200	THORA	TEMPLE	2014-02-15 09:34:33
\.


ALTER TABLE actor ENABLE TRIGGER ALL;

--
-- Data for Name: address; Type: TABLE DATA; Schema: public; Owner: postgres
--

ALTER TABLE address DISABLE TRIGGER ALL;

COPY address (address_id, address, address2, district, city_id, postal_code, phone, last_update) FROM stdin;
1	47 MySakila Drive	\N	Alberta	300			2014-02-15 09:45:30
2	28 MySQL Boulevard	\N	QLD	576			2014-02-15 09:45:30
3	23 Workhaven Lane	\N	Alberta	300		14033335568	2014-02-15 09:45:30
4	1411 Lillydale Drive	\N	QLD	576		6172235589	2014-02-15 09:45:30
5	1913 Hanoi Way		Nagasaki	463	35200	28303384290	2014-02-15 09:45:30
30	18 Duisburg Boulevard			121	58327	998009777982	2014-02-15 09:45:30
\.


ALTER TABLE address ENABLE TRIGGER ALL;

--
-- Data for Name: staff; Type: TABLE DATA; Schema: public; Owner: postgres
--

ALTER TABLE staff DISABLE TRIGGER ALL;

COPY staff (staff_id, first_name, last_name, address_id, email, store_id, active, username, password, last_update, picture) FROM stdin;
1	Mike	Hillyer	3	Mike.Hillyer@sakilastaff.com	1	t	Mike	8cb2237d0679ca88db6464eac60da96345513964	2014-05-16 16:13:11.79328	\\211PNG\\015\\012Z\\012
2	Jon	Stephens	4	Jon.Stephens@sakilastaff.com	2	t	Jon	8cb2237d0679ca88db6464eac60da96345513964	2014-05-16 16:13:11.79328	\N
\.


ALTER TABLE staff ENABLE TRIGGER ALL;

--
-- Data for Name: store; Type: TABLE DATA; Schema: public; Owner: postgres
--

ALTER TABLE store DISABLE TRIGGER ALL;

COPY store (store_id, manager_staff_id, address_id, last_update) FROM stdin;
1	1	1	2014-02-15 09:57:12
2	2	2	2014-02-15 09:57:12
\.


ALTER TABLE store ENABLE TRIGGER ALL;

--
-- PostgreSQL database dump complete
--

