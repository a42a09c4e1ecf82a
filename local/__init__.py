"""The local stack: Hookway on one machine, with moto's server standing in for AWS."""
