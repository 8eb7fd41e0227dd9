"""Jobs: what a user asks for end to end (a rehearsal, a scenario, the benchmark), each on a
lab it makes or is given; the front (front/cli/) calls these."""
