"""Generated from proto/intentlog/v1/*.proto by clients/python/generate.sh (checked in; do not edit)."""
