"""Evaluation instruments: FID/KID with offline feature networks, and the bundled data's classifier and look measurements."""
