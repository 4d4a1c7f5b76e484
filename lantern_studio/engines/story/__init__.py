"""Storyboard: script -> shots -> panels -> pages -> animatic."""
