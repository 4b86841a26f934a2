"""Web crawls in: WARC/WET records and HTML files -> main text, page metadata and the
extractor's own boilerplate counts (`warc.py` reads, `extract.py` decodes and extracts).

Nothing here knows the store: `curate.ingest` turns what these readers yield into its
`Record`s, and `scores.py` copies the boilerplate counts into the `web` signals.
"""
