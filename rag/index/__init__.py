"""The index stage: the Chroma store (``store``), its locks (``locks``), retrieval over it (``retrieve``),
writing articles into it (``build``) and rebuilding it from the kept texts (``reindex``)."""
