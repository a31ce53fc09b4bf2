DROP SCHEMA procrastinate CASCADE;
