"""Plugins that ship inside the core and register through the same hooks as any other."""
