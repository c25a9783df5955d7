"""Spark stage: staging lines -> clean_students + quarantine_students.

Engineers: read ../CONTRIBUTING.md first (team conventions, and the agreed table of malformed
kinds and their downstream verdicts that the generator must label).
"""
