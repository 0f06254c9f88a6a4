"""Experiment code of the chapters: one module per chapter, named like its slug."""
