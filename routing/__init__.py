"""Routing: who should take which handoff. Today, each agent's load (open handoffs); the
queue, capacity, auto-assignment, transfer and wait estimates grow here."""
