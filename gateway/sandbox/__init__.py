"""A local stand-in for ConnectWise Manage, generated from the registry and models."""
