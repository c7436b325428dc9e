"""Reading and validating ~/.very_hungry_pi/config.yaml."""
