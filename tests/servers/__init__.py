"""Real services the tests run on loopback (S3, drand relay, ...), one helper module each."""
