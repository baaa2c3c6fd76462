from pgdrill.cli import entry

entry()
