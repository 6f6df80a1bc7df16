"""The API's shapes (pydantic), one module per resource, kept apart from the database tables.

The class names are the OpenAPI schema names, so a rename here changes the published document.
"""
