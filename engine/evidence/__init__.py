"""Evidence files: uploaded, typed by content, stored by SHA-256, referenced from transitions."""
