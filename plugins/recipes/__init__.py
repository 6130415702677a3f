"""One module per paper: networks, products, loss plugins and their weights, phases, optimisers."""
