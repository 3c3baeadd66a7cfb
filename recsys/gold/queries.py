"""The SQL users run against warehouse.duckdb (the README shows these; the CLI and tests run them).

Parameters are positional (``$1``, ``$2``...). Every query joins gold/products for names and the
attribute filters, so the same pattern extends to category, colour, brand or price band.
"""

SIMILAR_ITEMS = """
SELECT s.rank, s.similar_product_id AS product_id, p.name, p.gender, p.article_type, p.colour,
       p.price, p.currency, round(s.score::DOUBLE, 4) AS score, s.reason, s.model
FROM similar_items s JOIN products p ON p.product_id = s.similar_product_id
WHERE s.product_id = $1
ORDER BY s.rank
LIMIT $2
"""

SIMILAR_SAME_GENDER_UNDER_PRICE = """
SELECT s.rank, p.product_id, p.name, p.gender, p.price, p.currency, round(s.score::DOUBLE, 4) AS score, s.reason
FROM similar_items s
JOIN products q ON q.product_id = s.product_id
JOIN products p ON p.product_id = s.similar_product_id
WHERE s.product_id = $1 AND p.gender = q.gender AND p.price < $2
ORDER BY s.rank
LIMIT 10
"""

USER_RECOMMENDATIONS = """
SELECT r.rank, r.product_id, p.name, p.gender, p.article_type, p.colour, p.price, p.currency,
       round(r.score::DOUBLE, 4) AS score, r.reason, r.model
FROM user_recommendations r JOIN products p USING (product_id)
WHERE r.user_id = $1
ORDER BY r.rank
LIMIT $2
"""

STYLE_RECOMMENDATIONS = """
SELECT r.rank, r.product_id, p.name, p.gender, p.article_type, p.colour, p.price, p.currency,
       round(r.score::DOUBLE, 4) AS score, r.reason
FROM style_recommendations r JOIN products p USING (product_id)
WHERE r.style = $1 AND r.gender IS NOT DISTINCT FROM $2
ORDER BY r.rank
LIMIT $3
"""

PRODUCTS_BY_ID = """
SELECT product_id, name, gender, article_type, colour, price, currency
FROM products WHERE product_id IN (SELECT unnest($1::VARCHAR[]))
"""

SIMILAR_TOP10_POINT_LOOKUP = """
SELECT similar_product_id, score, reason FROM similar_items WHERE product_id = $1 ORDER BY rank LIMIT 10
"""
