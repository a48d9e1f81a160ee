"""Pattern pages that teach without being a site feature, the course map and the self-check."""
