"""The studio: a web page (Gradio) over one generator that runs what generate, style-mix,
interpolate, project and stylize run. ``session`` holds the actions (no Gradio), ``page`` the page
and its named API endpoints, ``space`` the files that make an exported model folder a Space."""
