"""Speech engines: a line of dialogue, a voice and a language in; audio and its spoken span out."""
