"""Producer stage: JSON student events to Kafka.

Engineers: read ../CONTRIBUTING.md first (team conventions, and the agreed table of malformed
kinds and their downstream verdicts that the generator must label).
"""
