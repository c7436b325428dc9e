"""The thin layer that touches the disk, the network and child processes."""
