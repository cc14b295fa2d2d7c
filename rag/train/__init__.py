"""Training the reader of the answer stage (``rag train reader``): the data (``data``: reader lists from
the native-speaker QA sets and XQuAD-R), the encoder's token states kept on disk (``states``), the network
(``model``) and its fitting and measuring (``fit``). Imports torch; the answer stage never imports this."""
