"""Admin: back-office reads and the admin-only endpoints; writes go through the owning domain."""
