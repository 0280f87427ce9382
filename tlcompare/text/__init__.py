"""What tlcompare says to people: the one sanitiser for user text and its escapes (`escape`),
names of variants and runs (`variants`), an experiment's setup in words (`setup`), model stages in
words (`stages`), and the text of `ls` / `show` / `run` (`summaries`). Plain Python, no torch."""
