-- Age distribution per major: count, mean, min, max, sample standard deviation, exact median.
--
-- stddev_age is the SAMPLE standard deviation (n - 1 in the denominator, like Python's
-- statistics.stdev and pandas' std), null for a major with one student. SQLite has no stddev(),
-- so it is computed from sums, with the numerator n*sum(x^2) - sum(x)^2 kept in exact integer
-- arithmetic (whole-year ages) before the single division: no cancellation error.
-- median_age is exact: the middle value (or the mean of the two middle values) found by walking
-- the cumulative histogram, without sorting every student.
with age_counts as (

    select * from {{ ref('int_major_age_counts') }}

),

per_major as (

    select
        major,
        sum(student_count) as student_count,
        sum(student_count * age) as age_sum,
        sum(student_count * age * age) as age_square_sum,
        min(age) as min_age,
        max(age) as max_age
    from age_counts
    group by major

),

cumulative as (

    select
        major,
        age,
        sum(student_count) over (
            partition by major
            order by age
            rows between unbounded preceding and current row
        ) as students_up_to_age
    from age_counts

),

median_positions as (

    -- 1-based positions of the two middle students (the same one when the count is odd)
    select
        major,
        (student_count + 1) / 2 as lower_position,
        student_count / 2 + 1 as upper_position
    from per_major

),

medians as (

    select
        p.major,
        (
            min(case when c.students_up_to_age >= p.lower_position then c.age end)
            + min(case when c.students_up_to_age >= p.upper_position then c.age end)
        ) / 2.0 as median_age
    from median_positions as p
    inner join cumulative as c on c.major = p.major
    group by p.major

),

final as (

    select
        m.major,
        m.student_count,
        m.age_sum * 1.0 / m.student_count as avg_age,
        m.min_age,
        m.max_age,
        case
            when m.student_count > 1 then sqrt(
                (m.student_count * m.age_square_sum - m.age_sum * m.age_sum) * 1.0
                / (m.student_count * (m.student_count - 1))
            )
        end as stddev_age,
        d.median_age
    from per_major as m
    inner join medians as d on d.major = m.major

)

select * from final
order by major
