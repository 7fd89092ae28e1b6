"""Identity: passwords, tokens, who is asking (Viewer), and permission directives."""
