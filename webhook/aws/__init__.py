"""What the webhook asks AWS itself: the EC2 instance metadata (`--compose-role-arn`)."""
