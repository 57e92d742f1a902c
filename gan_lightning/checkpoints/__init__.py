"""Layer checkpoints: reading our checkpoints safely, migrating old layouts, foreign formats, export."""
