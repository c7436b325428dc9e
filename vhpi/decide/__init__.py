"""Pure decisions: given plain values, return plain values. No disk, no processes, no clock."""
