"""Renderers (pure: result → text/Markdown/JSON) and publishers (GitHub)."""
