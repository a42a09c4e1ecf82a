"""The outbound direction: what happens to deliveries after the sender (dead letters)."""
