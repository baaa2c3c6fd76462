-- A small shop, enough to show a real backup and drill: schemas, sequences, jsonb, a migration table.
CREATE SCHEMA app;
CREATE TABLE app.alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO app.alembic_version VALUES ('7c2d1e9a4b10');

CREATE TABLE app.customers (
    id         bigserial PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE app.products (
    id     integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku    text NOT NULL UNIQUE,
    price  numeric(10, 2) NOT NULL,
    attrs  jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE app.orders (
    id          bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES app.customers(id),
    status      text NOT NULL CHECK (status IN ('new', 'paid', 'shipped')),
    placed_at   timestamptz NOT NULL
);
CREATE TABLE app.order_items (
    order_id   bigint NOT NULL REFERENCES app.orders(id) ON DELETE CASCADE,
    product_id integer NOT NULL REFERENCES app.products(id),
    quantity   integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);

INSERT INTO app.customers (email, name, created_at)
SELECT 'customer' || g || '@example.com', 'Customer ' || g, timestamptz '2026-01-01' + g * interval '37 minutes'
FROM generate_series(1, 2000) g;

INSERT INTO app.products (sku, price, attrs)
SELECT 'SKU-' || lpad(g::text, 5, '0'), (g % 97) + 0.99, jsonb_build_object('color', (ARRAY['red','green','blue'])[1 + g % 3], 'weight_g', g * 10)
FROM generate_series(1, 300) g;

INSERT INTO app.orders (customer_id, status, placed_at)
SELECT 1 + (g * 7) % 2000, (ARRAY['new','paid','shipped'])[1 + g % 3], timestamptz '2026-02-01' + g * interval '11 minutes'
FROM generate_series(1, 6000) g;

INSERT INTO app.order_items (order_id, product_id, quantity)
SELECT o, 1 + (o * k) % 300, 1 + k
FROM generate_series(1, 6000) o, generate_series(1, 3) k
ON CONFLICT DO NOTHING;

CREATE VIEW app.revenue_by_month AS
SELECT date_trunc('month', o.placed_at) AS month, sum(p.price * i.quantity) AS revenue
FROM app.orders o JOIN app.order_items i ON i.order_id = o.id JOIN app.products p ON p.id = i.product_id
GROUP BY 1;
