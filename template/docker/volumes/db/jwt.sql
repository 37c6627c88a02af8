-- Exposes the JWT settings to SQL (current_setting('app.settings.jwt_secret')), as the
-- hosted platform does, for functions that sign or check tokens inside the database.
\set jwt_secret `echo "$JWT_SECRET"`
\set jwt_exp `echo "$JWT_EXP"`

ALTER DATABASE postgres SET "app.settings.jwt_secret" TO :'jwt_secret';
ALTER DATABASE postgres SET "app.settings.jwt_exp" TO :'jwt_exp';
