"""Orders: checkout, the status machine, pending edits, cancellation and refunds; orchestrates payments."""
