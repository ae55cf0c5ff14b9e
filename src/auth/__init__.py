"""Request signing for each venue; never makes HTTP calls and never imports platforms/."""
