"""Text renderings shared by the plain CLI (pure: no bcc, pyroute2, textual)."""
