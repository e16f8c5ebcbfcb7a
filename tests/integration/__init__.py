"""Integration tests: lab hosts that boot systemd, reached over SSH by ansible-playbook."""
