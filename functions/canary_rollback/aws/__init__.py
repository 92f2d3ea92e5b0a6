"""Adapters that own the boto3 clients. Domain modules never import boto3; only these do."""
