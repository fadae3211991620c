-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)
--
-- Host: localhost    Database: kitchen_forum
-- ------------------------------------------------------
-- Server version	8.0.36

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!50503 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;

--
-- Table structure for table `users`
--

DROP TABLE IF EXISTS `users`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!50503 SET character_set_client = utf8mb4 */;
CREATE TABLE `users` (
  `id` int unsigned NOT NULL AUTO_INCREMENT,
  `handle` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
  `joined` date DEFAULT NULL,
  `bio` text COMMENT 'shown on the profile page',
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_handle` (`handle`)
) ENGINE=InnoDB AUTO_INCREMENT=6 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `users`
--

LOCK TABLES `users` WRITE;
/*!40000 ALTER TABLE `users` DISABLE KEYS */;
INSERT INTO `users` VALUES (1,'crumb_keeper','2021-03-14','Bakes sourdough on weekends and answers bread questions.'),(2,'tomasz_w','2021-06-02','Line cook, ten years on the grill station.'),(3,'elif.k','2022-01-19','Home cook. Still learning knife skills.'),(4,'spice_route','2022-08-30','I write about regional curries and spice blends.'),(5,'anon_guest','2023-02-11',NULL);
/*!40000 ALTER TABLE `users` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `questions`
--

DROP TABLE IF EXISTS `questions`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!50503 SET character_set_client = utf8mb4 */;
CREATE TABLE `questions` (
  `id` int unsigned NOT NULL AUTO_INCREMENT,
  `user_id` int unsigned NOT NULL,
  `title` varchar(200) NOT NULL DEFAULT '',
  `question` text NOT NULL,
  `answer` mediumtext,
  `tags` varchar(255) DEFAULT NULL,
  `score` int NOT NULL DEFAULT '0',
  `status` enum('open','answered','closed') NOT NULL DEFAULT 'open',
  `created_at` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`),
  KEY `idx_user` (`user_id`),
  KEY `idx_status_score` (`status`,`score`),
  FULLTEXT KEY `ft_question` (`title`,`question`),
  CONSTRAINT `fk_questions_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB AUTO_INCREMENT=13 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='questions and accepted answers';
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `questions`
--

LOCK TABLES `questions` WRITE;
/*!40000 ALTER TABLE `questions` DISABLE KEYS */;
INSERT INTO `questions` VALUES (1,3,'Why does my rice turn mushy?','Every time I cook rice on the stove it ends up sticky and soft. I use a cup of rice and about three cups of water. What am I doing wrong?','You are using too much water. For long-grain white rice start with about 1.5 parts water to 1 part rice by volume, bring it to a boil, then cover and keep it on the lowest heat for 15 minutes. Rinse the rice first to wash off loose starch, and don\'t lift the lid while it steams. Let it rest off the heat for 5 minutes before fluffing.','rice,basics',14,'answered','2022-02-01 18:22:05'),(2,1,'Sourdough starter smells like nail polish','My starter is two weeks old and now it smells sharp, almost like acetone. Is it ruined?','It is not ruined, it is hungry. An acetone smell means the yeast and bacteria have run out of food. Discard all but a spoonful and feed it equal weights of flour and water twice a day for a few days. Keep it somewhere around 24 °C and the smell should turn mild and tangy again.','sourdough,bread',22,'answered','2022-03-10 07:41:12'),(3,4,'Toasting whole spices: oil or dry pan?','Some recipes say to toast cumin and coriander seeds in a dry pan and others fry them in oil. Which is \"correct\"?','Both are correct; they do different jobs.\nDry toasting in a pan makes seeds crisp and nutty, which is what you want when you grind them afterwards.\nFrying whole seeds in hot oil (a tadka or tempering) flavours the oil itself, and that oil then carries the flavour through the whole dish. Fry them until they crackle, usually under a minute, and add the rest of the ingredients before they darken.','spices,technique',17,'answered','2022-09-04 12:03:40'),(4,2,'How hot should the pan be for a steak?','I keep getting a grey band under the crust. How hot is hot enough?','Hotter than you think, but the grey band is mostly about thickness and timing. Dry the steak well, salt it at least 40 minutes ahead, and heat a heavy pan until a drop of water skates across it. Sear 2 minutes a side, then finish over lower heat or in the oven and flip often. Frequent flipping cooks the meat more evenly and keeps that band thin.','meat,searing',9,'answered','2022-10-11 20:15:00'),(5,5,'test please ignore','asdf',NULL,NULL,-2,'closed','2023-02-11 09:00:00'),(6,3,'Knife keeps slipping on onions','When I cut onions the knife slides off the outer layer. Is my knife too dull?','Probably, yes. A sharp knife bites into the onion\'s skin instead of skating over it. Hone the edge before each use and get it sharpened once or twice a year. Also keep the root end on while you slice: it holds the layers together, and curl your fingertips under so the blade rests against your knuckles.','knives,basics',11,'answered','2023-01-05 17:30:27');
INSERT INTO `questions` VALUES (7,2,'Can I freeze cooked pasta?','I made too much pasta for a party. Will it survive the freezer?','Yes. Cook it a minute short of al dente, toss it with a little oil so it does not clump, and freeze it flat in a bag. Reheat it straight from frozen in boiling water for about a minute, or bake it in its sauce. Very thin shapes like angel hair turn soft, so sturdy shapes such as penne or rigatoni freeze best.','pasta,storage',6,'answered','2023-03-22 13:12:54'),(8,1,'Bread is dense in the middle','My loaves look fine outside but the crumb is tight and gummy in the centre.','','bread',1,'open','2023-04-02 08:45:10'),(9,4,'What is the difference between garam masala and curry powder?','Are they interchangeable?','No, they are not. Curry powder is a blend sold mostly outside South Asia, usually built on turmeric, which gives it its yellow colour, plus coriander and cumin; it is meant to be cooked into a dish early on. Garam masala is a warming finishing blend, typically cinnamon, cardamom, cloves, black pepper and cumin, and it is often added near the end. Swapping one for the other changes both the colour and the character of the dish.','spices',19,'answered','2023-05-15 19:20:33'),(10,3,'Why salt pasta water?','Does salting the water really matter if the sauce is salty anyway?','It matters because pasta absorbs water as it cooks, and salt is the only seasoning that gets inside the noodle. About 10 g of salt per litre tastes right to most people. Salting the sauce seasons only the surface, so unsalted pasta tastes flat however good the sauce is. (And no, the salt does not make the water boil noticeably hotter.)','pasta,basics',13,'answered','2023-06-01 10:10:10'),(11,2,'Cast iron: \"never use soap\"?','My uncle says soap will ruin cast iron. True?','That advice comes from a time when soaps contained lye. Modern dish soap will not strip a good seasoning, which is polymerised oil bonded to the metal. What does damage it is soaking the pan or leaving it wet. Wash it, dry it on the stove, and wipe on a thin film of oil while it is warm.','cast iron,cleaning',25,'answered','2023-07-19 21:05:44'),(12,5,'Best way to boil eggs so they peel easily?','Mine always tear when I peel them.','Start them in boiling water rather than cold, cook 11 minutes for firm yolks, then move them straight into ice water for 10 minutes. The sudden heat sets the white before it can bond to the membrane, and the ice bath makes it shrink away from the shell. Older eggs peel more easily than very fresh ones too.','eggs,basics',8,'answered','2023-08-08 06:55:02');
/*!40000 ALTER TABLE `questions` ENABLE KEYS */;
UNLOCK TABLES;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed on 2024-02-18 22:14:37
