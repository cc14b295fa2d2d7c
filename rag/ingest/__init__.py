"""The ingest stage: files become ``Article`` values (``corpus``), articles become ``Chunk`` values
(``chunking``), and the article texts are kept outside the store (``archive``). Nothing here knows the
index."""
