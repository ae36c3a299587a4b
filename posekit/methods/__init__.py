"""Training methods: each turns a batch into a dict of named losses (including ``loss``)."""
