"""Benchmarks: this project's figures side by side with the tools users would pick instead."""
