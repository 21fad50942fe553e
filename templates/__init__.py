"""The Jinja templates of generated modules: a package, so they ship in the wheel as
derive.templates and load the same way installed or from a checkout (see codegen)."""
