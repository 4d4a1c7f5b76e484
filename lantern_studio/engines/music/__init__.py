"""Music engines: the offline composer and MusicGen, behind one interface; takes and their history."""
