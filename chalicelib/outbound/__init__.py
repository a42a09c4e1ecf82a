"""The outbound direction: routing, delivery, retries, signing, the egress guard, recovery, dead letters and
client certificates."""
