"""`prep extract html`: main text of web pages, boilerplate left behind."""
