"""Lambda entry points: the template's Handler values are canary_rollback.handlers.{probe,rollback,hook}.handler."""
