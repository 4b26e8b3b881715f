"""The tbviz tab inside TensorBoard: the plugin's routes and its static front end."""
